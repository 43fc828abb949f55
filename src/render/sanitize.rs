//! Render helper: untrusted text (process names, command lines) made safe for a terminal.
//! Control characters, escape sequences, bidi overrides and invisible characters become
//! visible escapes, so a process cannot spoof or break the table (as fd's sanitize does):
//! `sshd\u{200b}` must not pass for `sshd`. JSON is escaped by `render::json` instead.

use std::borrow::Cow;

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\' || (c > '\u{7f}' && invisible(c))
}

/// Characters that draw nothing, or nothing of their own: Unicode's format characters
/// (category Cf: bidi controls, zero-width joiners, the BOM, tag characters...), the rest
/// of Default_Ignorable_Code_Point (fillers, variation selectors), line and paragraph
/// separators, and spaces other than U+0020 that pass for it. Unicode 16; a name that
/// needs a newer invisible is escaped on the next table update, and is still shown.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00A0}' | '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
        | '\u{1680}' | '\u{17B4}' | '\u{17B5}' | '\u{180B}'..='\u{180F}'
        | '\u{2000}'..='\u{200F}' | '\u{2028}'..='\u{202F}' | '\u{205F}'..='\u{206F}'
        | '\u{2800}' | '\u{3000}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
        // Cf that prefix a number (Arabic, Syriac, Kaithi, Egyptian hieroglyph controls).
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}' | '\u{0891}'
        | '\u{08E2}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}')
}

/// Escapes control, bidi, invisible and line-separator characters as `\n`, `\t`, `\x1b`, `\u{202e}`;
/// a backslash is doubled so the escaping is unambiguous.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) && (c as u32) < 0x100 => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Multi-line text (clap's usage errors) made safe line by line: the line breaks stay,
/// everything else `sanitize` escapes is escaped.
pub fn sanitize_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, end) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        out.push_str(&sanitize(body));
        out.push_str(end);
    }
    out
}

/// A command line for display: arguments joined by spaces, each sanitized.
pub fn sanitize_cmdline(args: &[String]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&sanitize(a));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_untouched() {
        assert!(matches!(
            sanitize("nginx: worker"),
            Cow::Borrowed("nginx: worker")
        ));
        assert_eq!(sanitize("naïve-ü"), "naïve-ü");
    }

    #[test]
    fn controls_escapes_and_bidi_become_visible() {
        assert_eq!(sanitize("a\nb\tc\rd"), "a\\nb\\tc\\rd");
        assert_eq!(sanitize("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
        assert_eq!(sanitize("evil\u{202e}txt"), "evil\\u{202e}txt");
        assert_eq!(sanitize("\u{7f}\u{9b}"), "\\x7f\\x9b");
        assert_eq!(sanitize("back\\slash"), "back\\\\slash");
        assert_eq!(sanitize("\u{2066}x\u{2069}"), "\\u{2066}x\\u{2069}");
    }

    #[test]
    fn clap_usage_error_keeps_its_lines_but_not_escapes() {
        assert_eq!(
            sanitize_lines("error: invalid value '\x1b]0;x\x07'\n\ntry --help\n"),
            "error: invalid value '\\x1b]0;x\\x07'\n\ntry --help\n"
        );
        assert_eq!(sanitize_lines("a\rb"), "a\\rb");
    }

    #[test]
    fn zero_width_and_format_characters_are_escaped() {
        assert_eq!(sanitize("sshd\u{200b}"), "sshd\\u{200b}");
        assert_eq!(
            sanitize("\u{feff}a\u{200d}b\u{2060}c\u{e0041}"),
            "\\u{feff}a\\u{200d}b\\u{2060}c\\u{e0041}"
        );
        assert_eq!(sanitize("x\u{ad}y\u{a0}z"), "x\\xady\\xa0z");
        assert_eq!(
            sanitize("\u{3164}\u{fe0f}\u{2800}"),
            "\\u{3164}\\u{fe0f}\\u{2800}"
        );
        // Visible text, combining accents and ordinary spaces are left alone.
        assert_eq!(
            sanitize("nginx: worker e\u{301} 日本"),
            "nginx: worker e\u{301} 日本"
        );
    }

    #[test]
    fn cmdline_joins_sanitized_args() {
        let v = vec!["python3".to_string(), "-c".into(), "print(1)\n".into()];
        assert_eq!(sanitize_cmdline(&v), "python3 -c print(1)\\n");
    }
}
