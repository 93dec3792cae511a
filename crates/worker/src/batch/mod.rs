pub(crate) mod onchain;
