//! Partition tables: MBR (primary + extended/logical chains), GPT (protective MBR,
//! header and entry CRCs, backup header), hybrid MBR/GPT, or none (R-PART).
