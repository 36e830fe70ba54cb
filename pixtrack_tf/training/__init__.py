"""Training: Eq. 2 and Eq. 4 (losses), the local and global tasks, the loop, and Sec. 5.1."""
