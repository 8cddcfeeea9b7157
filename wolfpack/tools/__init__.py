"""Developer tools that sit beside the daemon: the policy's scenario runner."""
