//! Regional rail.
pub mod gtfs;
pub mod network;
pub mod realtime;
