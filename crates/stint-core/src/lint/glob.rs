//! IAM's wildcard matching: `*` any run of characters, `?` one character, ASCII case folded
//! (action names are case-insensitive).

/// Whether `pattern` matches `text`, ignoring ASCII case.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<u8> = pattern.bytes().map(|b| b.to_ascii_lowercase()).collect();
    let t: Vec<u8> = text.bytes().map(|b| b.to_ascii_lowercase()).collect();
    // Iterative matching with one backtrack point for the last `*`: linear in practice.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

pub fn has_wildcard(text: &str) -> bool {
    text.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn stars_and_marks_match_as_iam_does() {
        assert!(matches("*", "iam:PassRole"));
        assert!(matches("iam:Pass*", "IAM:passrole"));
        assert!(matches("iam:*Role", "iam:PassRole"));
        assert!(matches("s3:Get?bject", "s3:GetObject"));
        assert!(!matches("iam:Pass", "iam:PassRole"));
        assert!(!matches("s3:*", "iam:PassRole"));
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(!matches("a*b*c", "aXbYbZ"));
    }
}
