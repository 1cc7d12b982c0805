//! Small internal helpers shared by several layers.

pub(crate) mod coop;
pub(crate) mod rand;
pub(crate) mod wake;
