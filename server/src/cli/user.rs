//! `channelwatch user`: create logins and reset passwords.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::open_db;

#[derive(Subcommand)]
pub(crate) enum UserCommand {
    /// Create a login (prompts for the password when --password is omitted).
    Create {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
        /// admin (everything) or viewer (read-only).
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Set a new password (prompts when --password is omitted); ends the user's sessions.
    ResetPassword {
        #[arg(long)]
        username: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
}

/// The password from the flag, or asked for (hidden on a terminal, a line otherwise).
fn password_or_prompt(given: Option<String>) -> anyhow::Result<String> {
    if let Some(p) = given {
        return Ok(p);
    }
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        let p = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(p == again, "the passwords do not match");
        Ok(p)
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

pub(crate) async fn run(c: UserCommand) -> anyhow::Result<ExitCode> {
    match c {
        UserCommand::Create {
            username,
            password,
            role,
            data_dir,
        } => {
            use storage::users;
            let role = users::Role::parse(&role)
                .ok_or_else(|| anyhow::anyhow!("--role: '{role}' is not admin or viewer"))?;
            users::validate_username(&username)?;
            let password = password_or_prompt(password)?;
            let db = open_db(data_dir).await?;
            users::create(&db, &username, &password, role).await?;
            println!("created {} '{username}'", role.as_str());
        }
        UserCommand::ResetPassword {
            username,
            password,
            data_dir,
        } => {
            let password = password_or_prompt(password)?;
            let db = open_db(data_dir).await?;
            storage::users::reset_password(&db, &username, &password).await?;
            println!("password of '{username}' changed; their sessions were ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}
