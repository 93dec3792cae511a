pub(crate) mod flow;
pub(crate) mod onchain;
