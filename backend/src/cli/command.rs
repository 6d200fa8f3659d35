//! Console lines as commands: the words, their arguments, and paths as terminals paste them.

use std::path::{Path, PathBuf};

/// A parsed console command.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// `list`.
    List,
    /// `peers`.
    Peers,
    /// `get <id or prefix>`.
    Get(String),
    /// `push <path>`.
    Push(PathBuf),
    /// `delete <id or prefix>`.
    Delete(String),
    /// `help`.
    Help,
    /// `exit`.
    Exit,
}

/// Parses one line; `Ok(None)` for a blank line.
pub fn parse(line: &str) -> Result<Option<Command>, String> {
    let line = line.trim();
    let (word, arg) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let arg = arg.trim();
    let need = |what: &str| {
        if arg.is_empty() {
            Err(format!("usage: {word} <{what}>"))
        } else {
            Ok(arg.to_string())
        }
    };
    let alone = |command| {
        if arg.is_empty() {
            Ok(command)
        } else {
            Err(format!("{word} takes no argument"))
        }
    };
    // A file id is one word: a second one is a mistake, not part of it.
    let id = || {
        let id = need("file_id")?;
        match id.contains(char::is_whitespace) {
            true => Err(format!("usage: {word} <file_id> (one id)")),
            false => Ok(id),
        }
    };
    Ok(Some(match word.to_ascii_lowercase().as_str() {
        "" => return Ok(None),
        "list" | "ls" => alone(Command::List)?,
        "peers" => alone(Command::Peers)?,
        "get" => Command::Get(id()?),
        "push" => Command::Push(PathBuf::from(unquote(&need("path")?))),
        "delete" | "rm" => Command::Delete(id()?),
        "help" | "?" => Command::Help,
        "exit" | "quit" => alone(Command::Exit)?,
        other => {
            // Echoed clipped: a pasted megabyte is not worth printing back.
            let shown: String = other.chars().take(40).collect();
            let more = if shown.len() < other.len() { "…" } else { "" };
            return Err(format!("unknown command {shown:?}{more}; type `help`"));
        }
    }))
}

/// A path as a terminal pastes it: within a pair of quotes, or with its spaces escaped; a
/// leading `~/` (unquoted) is the home folder, as a shell would take it.
fn unquote(path: &str) -> String {
    for quote in ['"', '\''] {
        if let Some(inner) = path
            .strip_prefix(quote)
            .and_then(|rest| rest.strip_suffix(quote))
        {
            return inner.to_string();
        }
    }
    let path = path.replace("\\ ", " ");
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest).to_string_lossy().into_owned(),
        _ => path,
    }
}

/// The commands, as `help` and `peer --help` list them.
pub const COMMANDS: &str =
    "  list, ls             files known on the network; * marks the ones we hold
  peers                tracked peers and when they were last heard from
  get <file_id>        fetch a file in the background
  push <path>          add a local file as ours, send it to a peer, announce it
  delete, rm <file_id> delete a file we own, here and on every peer
  help, ?              this list
  exit, quit           save and stop (so do Ctrl-C and SIGTERM)
A unique prefix of a file id is enough.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_list_is_indented_alike() {
        assert!(COMMANDS.starts_with("  list, ls "), "{COMMANDS}");
    }

    #[test]
    fn an_unknown_command_is_echoed_clipped() {
        let long = "x".repeat(200_000);
        let e = parse(&long).unwrap_err();
        assert!(e.len() < 100, "{e}");
        assert_eq!(
            parse("frob"),
            Err("unknown command \"frob\"; type `help`".into())
        );
    }

    #[test]
    fn commands() {
        assert_eq!(parse("  list "), Ok(Some(Command::List)));
        assert_eq!(parse(""), Ok(None));
        assert_eq!(parse("get 4771"), Ok(Some(Command::Get("4771".into()))));
        assert_eq!(
            parse("push /tmp/a b.txt"),
            Ok(Some(Command::Push("/tmp/a b.txt".into())))
        );
        for pasted in [
            r#"push "/tmp/a b.txt""#,
            "push '/tmp/a b.txt'",
            r"push /tmp/a\ b.txt",
        ] {
            assert_eq!(
                parse(pasted),
                Ok(Some(Command::Push("/tmp/a b.txt".into()))),
                "{pasted}"
            );
        }
        assert!(parse("get").is_err());
        assert!(parse("frobnicate").is_err());
        assert_eq!(parse("EXIT"), Ok(Some(Command::Exit)));
    }

    #[test]
    fn words_a_command_does_not_take_are_refused() {
        assert_eq!(parse("peers bob"), Err("peers takes no argument".into()));
        assert_eq!(parse("exit now"), Err("exit takes no argument".into()));
        assert_eq!(
            parse("get 4771 aaf3"),
            Err("usage: get <file_id> (one id)".into())
        );
        assert_eq!(
            parse("rm 4771 aaf3"),
            Err("usage: rm <file_id> (one id)".into())
        );
    }

    #[test]
    fn a_pushed_path_may_start_at_the_home_folder() {
        let home = std::env::var("HOME").expect("HOME is set");
        let expected = std::path::Path::new(&home).join("notes.txt");
        assert_eq!(parse("push ~/notes.txt"), Ok(Some(Command::Push(expected))));
        // Quoted, it is taken as written, as a shell would.
        assert_eq!(
            parse("push '~/notes.txt'"),
            Ok(Some(Command::Push("~/notes.txt".into())))
        );
    }
}
