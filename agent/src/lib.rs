//! Driftvakt agent library.
