//! LVM2: physical volume labels, text metadata, volume groups and linear logical volumes.
