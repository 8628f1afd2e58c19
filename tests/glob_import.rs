//! `use autoencoder::*;` and `use autoencoder::prelude::*;` compile, and paths through the crate's name still
//! resolve after them (the public module `autoencoder::autoencoder` once made every such path ambiguous, E0659).

use autoencoder::*;

#[test]
fn the_root_glob_import_leaves_crate_paths_unambiguous() -> Result<()> {
    let mut ae = autoencoder::Autoencoder::builder(6).latent(2).seed(1).build()?;
    let x = ndarray::Array2::from_elem((4, 6), 0.5_f32);
    let loss = ae.train_step(x.view(), x.view(), Loss::Mse, &mut Adam::new(1e-2))?;
    assert!(loss.is_finite());
    let _: autoencoder::Result<Autoencoder> = Autoencoder::builder(3).latent(1).build();
    let _: Option<(Vae, VaeLoss, autoencoder::Vae)> = None;
    let _: Option<(
        VaeCheckpoint,
        autoencoder::VaeCheckpoint,
        autoencoder::checkpoint::VaeCheckpoint,
    )> = None;
    Ok(())
}

#[test]
fn std_result_with_two_parameters_still_works_after_the_glob() -> Result<(), Box<dyn std::error::Error>> {
    let _ = autoencoder::Autoencoder::builder(4).latent(2).build()?;
    Ok(())
}

mod with_the_prelude {
    use autoencoder::prelude::*;

    #[test]
    fn the_prelude_has_what_building_training_saving_and_loading_need() -> Result<()> {
        let mut ae = autoencoder::Autoencoder::builder(6)
            .hidden(&[4])
            .latent(2)
            .hidden_activation(Activation::Relu)
            .seed(2)
            .build()?;
        let x = autoencoder::ndarray::Array2::from_elem((8, 6), 0.25_f32);
        let config = FitConfig::new(2).batch_size(4).loss(Loss::Mse).seed(3);
        let history: History = ae.fit(x.view(), None, &mut Sgd::new(0.1), &config)?;
        assert_eq!(history.train_loss.len(), 2);
        let _: (Adam, AdamW) = (Adam::new(1e-3), AdamW::new(1e-3));
        fn takes_an_optimizer(_: &impl Optimizer) {}
        takes_an_optimizer(&Sgd::new(0.1));

        let path = std::env::temp_dir().join(format!("autoencoder-prelude-{}.safetensors", std::process::id()));
        ae.save(&path)?;
        let loaded = Autoencoder::load(&path)?;
        std::fs::remove_file(&path).ok();
        assert_eq!(loaded.latent(), 2);

        let mut rng = <autoencoder::rand::rngs::StdRng as autoencoder::rand::SeedableRng>::seed_from_u64(0);
        let encoder = Encoder::new(vec![Dense::new(6, 2, Activation::Tanh, Init::GlorotUniform, &mut rng)?])?;
        let decoder = Decoder::new(vec![Dense::new(
            2,
            6,
            Activation::Sigmoid,
            Init::GlorotUniform,
            &mut rng,
        )?])?;
        let _ = autoencoder::Autoencoder::new(encoder, decoder)?;

        let encoder = Encoder::new(vec![Dense::new(
            6,
            4,
            Activation::Identity,
            Init::GlorotUniform,
            &mut rng,
        )?])?;
        let decoder = Decoder::new(vec![Dense::new(
            2,
            6,
            Activation::Sigmoid,
            Init::GlorotUniform,
            &mut rng,
        )?])?;
        let mut vae: Vae = Vae::new(encoder, decoder)?.with_beta(0.5);
        let loss: VaeLoss = vae.train_step(
            x.view(),
            x.view(),
            Loss::BinaryCrossEntropy,
            &mut Adam::new(1e-2),
            &mut rng,
        )?;
        assert!(loss.total.is_finite());

        let missing: Result<Mnist> = Mnist::load("/no/such/folder");
        let _: Error = missing.unwrap_err();
        Ok(())
    }
}
