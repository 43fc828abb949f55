//! Acting on a port: asking before signalling another user's process or more than one
//! process (or closing more than one socket). The question is asked only on a terminal;
//! without one portscope never waits for an answer that cannot come: it needs `-y`.

use std::io::{BufRead, Write};

/// Where an answer can come from.
pub enum Asker<'a> {
    /// A person at a terminal (or a test's injected reader): the prompt goes to `prompt`,
    /// the answer is one line of `input`.
    Terminal {
        input: &'a mut dyn BufRead,
        prompt: &'a mut dyn Write,
    },
    /// No terminal: nobody to ask.
    None,
}

/// Why the plan needs a yes, if it does: more than one of `things`, or someone else's.
pub fn reason(count: usize, things: &str, other_users: &[String]) -> Option<String> {
    let mut why = Vec::new();
    if count > 1 {
        why.push(format!("{count} {things}"));
    }
    if !other_users.is_empty() {
        why.push(format!("owned by {}", other_users.join(", ")));
    }
    (!why.is_empty()).then(|| why.join(", "))
}

/// The decision: Ok(true) go ahead, Ok(false) the person said no, Err without a terminal.
pub fn ask(asker: Asker<'_>, question: &str, why: &str) -> anyhow::Result<bool> {
    match asker {
        Asker::None => Err(anyhow::anyhow!(
            "confirmation needed ({why}) and no terminal to ask on: pass -y/--yes to go ahead, or --dry-run to see the plan"
        )),
        Asker::Terminal { input, prompt } => {
            write!(prompt, "{question} [y/N] ")?;
            prompt.flush()?;
            let mut line = String::new();
            input.read_line(&mut line)?;
            let a = line.trim().to_ascii_lowercase();
            Ok(a == "y" || a == "yes")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_from_the_injected_reader() {
        for (answer, want) in [("y\n", true), ("YES\n", true), ("n\n", false), ("", false)] {
            let mut input = answer.as_bytes();
            let mut prompt = Vec::new();
            let asker = Asker::Terminal {
                input: &mut input,
                prompt: &mut prompt,
            };
            assert_eq!(
                ask(asker, "Signal 2 processes?", "2 processes").unwrap(),
                want
            );
            assert_eq!(
                String::from_utf8(prompt).unwrap(),
                "Signal 2 processes? [y/N] "
            );
        }
        let e = ask(Asker::None, "Signal?", "2 processes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "confirmation needed (2 processes) and no terminal to ask on: pass -y/--yes to go ahead, or --dry-run to see the plan"
        );
    }

    #[test]
    fn one_own_process_needs_no_question() {
        assert_eq!(reason(1, "processes", &[]), None);
        assert_eq!(reason(2, "processes", &[]).unwrap(), "2 processes");
        assert_eq!(
            reason(1, "sockets", &["alice".into()]).unwrap(),
            "owned by alice"
        );
    }
}
