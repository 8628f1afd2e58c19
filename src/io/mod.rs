//! Files: model files ([`persist`]: safetensors, also under checkpoints) and pictures ([`image`]: PNG grids and
//! scatter plots), both written atomically (a temporary file, then a rename). Model files know the models and
//! layers they save; pictures know only arrays.

pub mod image;
pub mod persist;

pub(crate) mod atomic;
