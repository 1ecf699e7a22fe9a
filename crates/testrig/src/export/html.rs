//! The self-contained HTML report: the browser UI of `web/` with its stylesheet and modules
//! inlined and the report data embedded, one file that opens offline from a `file://` URL
//! and makes no network request — the report a CI job archives.
//!
//! `web/bundle-order.json` lists the UI's modules in dependency order; each module is written
//! so that dropping its `import` statements and `export` keywords leaves code that works when
//! the modules are concatenated into one `<script type="module">` (see `web/README.md`).

use std::path::Path;
use std::sync::LazyLock;

use crate::regex_engine::Regex;
use testrig_model::Report;

use crate::export::atomic::write_atomically;
use crate::export::web_assets::web_file;

static IMPORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?ms)^\s*import\s+(?:[^;]*?\s+from\s+)?["'][^"']+["']\s*;?\s*$"#)
        .expect("a valid pattern")
});
static EXPORT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^export\s+").expect("a valid pattern"));
static STYLESHEET_LINK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"<link[^>]*rel="stylesheet"[^>]*>"#).expect("a valid pattern"));
static MODULE_SCRIPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"<script[^>]*\bsrc="[^"]*"[^>]*>\s*</script>"#).expect("a valid pattern")
});

fn asset_text(name: &str) -> std::io::Result<String> {
    let file = web_file(name)
        .ok_or_else(|| std::io::Error::other(format!("the UI file `web/{name}` is missing")))?;
    String::from_utf8(file.to_vec())
        .map_err(|_| std::io::Error::other(format!("`web/{name}` is not UTF-8")))
}

/// The module files of `web/bundle-order.json`: `{"modules": [...]}` (or a bare list).
fn module_order(text: &str) -> std::io::Result<Vec<String>> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|error| {
        std::io::Error::other(format!("`web/bundle-order.json` does not parse: {error}"))
    })?;
    let list = value.get("modules").unwrap_or(&value);
    serde_json::from_value(list.clone()).map_err(|_| {
        std::io::Error::other("`web/bundle-order.json` must list the module files under `modules`")
    })
}

/// Text safe inside a `<script>` or `<style>` element.
fn inline_safe(text: &str) -> String {
    text.replace("</", "<\\/")
}

/// The HTML document for a report.
pub fn render_html_report(report: &Report, editor_url: Option<&str>) -> std::io::Result<String> {
    let index = asset_text("index.html")?;
    let style = asset_text("style.css")?;
    let order = module_order(&asset_text("bundle-order.json")?)?;
    let mut bundle = String::new();
    for module in &order {
        let source = asset_text(module)?;
        let source = IMPORT.replace_all(&source, "");
        let source = EXPORT.replace_all(&source, "");
        bundle.push_str(&format!("// --- {module}\n{source}\n"));
    }
    let report_json = serde_json::to_string(report).map_err(std::io::Error::other)?;
    let config = serde_json::json!({
        "editor_url": editor_url,
        "source_root": crate::compile_dir::source_root(),
        "static": true,
    });
    let data = format!(
        "<script>window.TESTRIG_REPORT = {};\nwindow.TESTRIG_CONFIG = {};</script>",
        inline_safe(&report_json),
        inline_safe(&config.to_string())
    );
    let html = STYLESHEET_LINK.replace_all(&index, "");
    let html = MODULE_SCRIPT.replace_all(&html, "");
    let head_end = html.find("</head>").unwrap_or(0);
    let body_end = html.rfind("</body>").unwrap_or(html.len());
    let mut document =
        String::with_capacity(html.len() + bundle.len() + report_json.len() + style.len() + 256);
    document.push_str(&html[..head_end]);
    document.push_str(&format!("<style>\n{}\n</style>\n", inline_safe(&style)));
    document.push_str(&html[head_end..body_end]);
    document.push_str(&data);
    document.push_str(&format!(
        "\n<script type=\"module\">\n{}\n</script>\n",
        inline_safe(&bundle)
    ));
    document.push_str(&html[body_end..]);
    Ok(document)
}

/// Writes the self-contained HTML report to `path`, atomically.
pub fn write_html_report(
    report: &Report,
    path: &Path,
    editor_url: Option<&str>,
) -> std::io::Result<()> {
    let document = render_html_report(report, editor_url)?;
    write_atomically(path, |writer| {
        std::io::Write::write_all(writer, document.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_and_exports_are_stripped_for_inlining() {
        let source = "import { a, b } from './x.js';\nimport {\n  c,\n} from \"./y.js\";\nexport function f() {}\nexport const g = 1;\nconst s = 'import x from';\n";
        let stripped = EXPORT
            .replace_all(&IMPORT.replace_all(source, ""), "")
            .to_string();
        assert!(
            !stripped.contains("from './x.js'") && !stripped.contains("./y.js"),
            "{stripped}"
        );
        assert!(
            stripped.contains("function f() {}") && stripped.contains("const g = 1;"),
            "{stripped}"
        );
        assert!(
            stripped.contains("const s = 'import x from';"),
            "{stripped}"
        );
    }

    /// The interactive server's Content-Security-Policy refuses inline styles and handlers;
    /// the browser test catches what runs, this what the markup and templates could hold.
    #[test]
    fn the_ui_has_no_inline_styles_or_handlers_the_csp_would_refuse() {
        let mut files = vec!["index.html".to_string()];
        files.extend(module_order(&asset_text("bundle-order.json").unwrap()).unwrap());
        for file in &files {
            let text = asset_text(file).unwrap();
            for needle in [
                "style=\"",
                "style='",
                "innerHTML",
                "setAttribute('style'",
                "cssText",
            ] {
                assert!(!text.contains(needle), "web/{file} uses {needle}");
            }
        }
        let index = asset_text("index.html").unwrap();
        assert!(
            !Regex::new(r#"\son[a-z]+\s*=\s*["']"#)
                .unwrap()
                .is_match(&index),
            "index.html has an inline event handler"
        );
        assert!(
            !Regex::new(r"<script>|<script\s+(?:type=[^ >]+\s*)?>")
                .unwrap()
                .is_match(&index),
            "index.html has an inline script"
        );
    }

    #[test]
    fn inlined_text_cannot_close_its_element() {
        assert_eq!(
            inline_safe("{\"a\":\"</script>\"}"),
            "{\"a\":\"<\\/script>\"}"
        );
    }
}
