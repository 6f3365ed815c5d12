//! Process-level tests of the CF server: links, events, fencing, hostile input, crashes.

mod common;
mod crash;
mod events;
mod fencing;
mod hostile;
mod restart;
mod sync_completion;
