//! Regional rail.
pub mod gtfs;
