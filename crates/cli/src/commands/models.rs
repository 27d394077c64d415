//! `vmlmap models inspect PATH`: what a checkpoint holds and which architecture it is.

use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand)]
enum Sub {
    /// Architecture, preset, tensor and parameter counts, dtype of a checkpoint or folder.
    Inspect {
        /// A `.pt`/`.pth`/`.safetensors` file (guided-diffusion) or a diffusers folder.
        path: String,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    match a.command {
        Sub::Inspect { path, json } => {
            let info = vmlmap_models::registry::inspect(&path)?;
            if json {
                println!("{}", serde_json::to_string(&info)?);
            } else {
                println!("file:         {}", info.source);
                println!("format:       {}", info.format);
                println!("architecture: {}", info.architecture);
                println!(
                    "preset:       {}",
                    info.preset
                        .as_deref()
                        .unwrap_or("none (custom configuration)")
                );
                println!("tensors:      {}", info.tensors);
                println!("parameters:   {}", info.parameters);
                println!("dtype:        {}", info.dtypes.join(", "));
                println!(
                    "image:        {}x{}x{}{}",
                    info.image[0],
                    info.image[1],
                    info.image[2],
                    if info.learn_sigma {
                        " (learned sigma: 2C outputs)"
                    } else {
                        ""
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
