//! Boot command lines: the kernel's own, and the one that names each boot module.

/// A boot module's command line split into the program's name (the last path component
/// of the first word) and its arguments (the rest, trimmed).
pub fn split_module_line(line: &str) -> (&str, &str) {
    let line = line.trim();
    let (path, args) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let name = path.rsplit('/').next().unwrap_or(path);
    (name, args.trim())
}

/// The kernel's own options: Multiboot loaders put the kernel's path first, so every word
/// after the first.
pub fn kernel_options(line: &str) -> impl Iterator<Item = &str> {
    line.split_whitespace().skip(1)
}

/// The value of `key=value` among the kernel's options; the last one wins.
pub fn kernel_option<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    kernel_options(line)
        .filter_map(|word| word.split_once('='))
        .filter(|(name, _)| *name == key)
        .map(|(_, value)| value)
        .last()
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

    #[test]
    fn kernel_options_skip_the_kernel_path() {
        let line = "/boot/microkernel asi=on verbose asi=off";
        assert_eq!(kernel_options(line).collect::<Vec<_>>(), ["asi=on", "verbose", "asi=off"]);
        assert_eq!(kernel_option(line, "asi"), Some("off"));
        assert_eq!(kernel_option(line, "verbose"), None);
        assert_eq!(kernel_option("asi=on", "asi"), None);
        assert_eq!(kernel_option("", "asi"), None);
    }
}
