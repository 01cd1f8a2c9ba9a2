//! A guest's file tree: filesystems mounted as the guest would (root, then fstab),
//! paths resolved with symlinks followed inside the guest root, never on the host.
