"""Properties a resource takes from what it depends on.

A Network Name registers the address of the IP Address it depends on; an administrator
should not have to type the address twice. The rule is general and small: a property the
resource's type declares but the resource leaves unset is taken from the first dependency
(by name) that sets a property of the same name. Explicit values always win.
"""

from __future__ import annotations

from dataclasses import replace

from wolfpack.model.config import ClusterConfig, Resource


def effective_resource(cfg: ClusterConfig, res: Resource) -> Resource:
    rtype = cfg.types.get(res.type)
    if rtype is None:
        return res
    props = dict(res.properties)
    for dep_name in sorted(res.depends_on):
        dep = cfg.resources.get(dep_name)
        for key, value in dep.properties.items() if dep is not None else ():
            if key not in props and rtype.spec(key) is not None:
                props[key] = value
    return res if props == dict(res.properties) else replace(res, properties=props)
