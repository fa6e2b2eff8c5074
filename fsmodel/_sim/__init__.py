"""The simulated kernel: in-memory inodes, mounts, credentials and fds that ask the rules."""
