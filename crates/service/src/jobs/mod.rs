//! The durable import pipeline: leased job rows, phases, progress, resume after a crash.
