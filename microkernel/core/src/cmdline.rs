//! Boot command lines: the kernel's own, and the one that names each boot module.

/// A boot module's command line split into the program's name (the last path component
/// of the first word) and its arguments (the rest, trimmed).
pub fn split_module_line(line: &str) -> (&str, &str) {
    let line = line.trim();
    let (path, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let name = path.rsplit('/').next().unwrap_or(path);
    (name, args.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_lines_split_into_name_and_args() {
        assert_eq!(split_module_line("/a/b/init"), ("init", ""));
        assert_eq!(split_module_line(" target/probe  fault=page  x "), ("probe", "fault=page  x"));
        assert_eq!(split_module_line(""), ("", ""));
        assert_eq!(split_module_line("dir/"), ("", ""));
    }
}
