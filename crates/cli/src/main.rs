//! `vmlmap`: image restoration with diffusion priors by VML-MAP (Gutha, Vinuesa, Azizpour,
//! arXiv 2512.10524) and its baselines. Thin: parses arguments and hands each command to
//! its module under `commands/`.

mod commands;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "vmlmap", version, about = "Restore images with diffusion priors: VML-MAP and baselines", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check the solvers against exact answers on analytic priors, for every operator.
    Validate(commands::validate::Args),
    /// List the tasks (measurement operators), their options and defaults.
    Tasks(commands::tasks::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate(a) => commands::validate::run(a),
        Command::Tasks(a) => commands::tasks::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
