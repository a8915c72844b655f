//! toml's parse errors as one sentence an operator can act on: where (line and column, from
//! the error's span) and, for a misspelt key, the nearest key the table takes.

use super::CatalogError;

/// `error` from parsing `text`, as a `CatalogError` whose key is the place in the file.
pub(super) fn from_toml_error(text: &str, error: &toml::de::Error) -> CatalogError {
    let key = error
        .span()
        .and_then(|span| text.get(..span.start))
        .map(|before| {
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("line {line}, column {column}")
        })
        .unwrap_or_else(|| "(document)".to_owned());
    CatalogError {
        key,
        message: sentence(error.message()),
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" becomes "unknown key `x`; did you
/// mean `a`?": the list of every key is noise once the nearest one is named.
fn sentence(message: &str) -> String {
    let Some((unknown, expected)) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split_once('`'))
    else {
        return message.trim_end().to_owned();
    };
    let valid: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    match nearest(unknown, &valid) {
        Some(best) => format!("unknown key `{unknown}`; did you mean `{best}`?"),
        None => format!(
            "unknown key `{unknown}`; this table takes {}",
            valid
                .iter()
                .map(|v| format!("`{v}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The valid key closest to `unknown` by edit distance, if close enough to be a typo (at
/// most a third of its length).
fn nearest<'a>(unknown: &str, valid: &[&'a str]) -> Option<&'a str> {
    let limit = (unknown.chars().count() / 3).max(1);
    valid
        .iter()
        .map(|v| (distance(unknown, v), *v))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, v)| v)
}

/// Levenshtein distance, with a swap of two neighbours counted as one edit.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_near_and_strangers_are_not() {
        let keys = ["company", "permissions_boundary_arn", "org"];
        assert_eq!(nearest("compnay", &keys), Some("company"));
        assert_eq!(
            nearest("permission_boundary_arn", &keys),
            Some("permissions_boundary_arn")
        );
        assert_eq!(nearest("colour", &keys), None);
    }
}
