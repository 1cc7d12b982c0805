//! Small internal helpers shared by several layers.

pub(crate) mod rand;
