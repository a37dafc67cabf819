//! A small page-layout engine over krilla: lines of text in columns (left or
//! right aligned, measured with the embedded font's metrics), rules, page breaks
//! that repeat a table's header, and "Page n of m" footers. Text is real text in
//! an embedded open-licence font (DejaVu Sans), so it can be searched and extracted.

use std::sync::{Arc, OnceLock};

use krilla::geom::{PathBuilder, Point};
use krilla::page::PageSettings;
use krilla::paint::Stroke;
use krilla::text::{Font, TextDirection};
use krilla::Document;
use skrifa::instance::{LocationRef, Size};
use skrifa::MetadataProvider;

const REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// US Letter, in points.
pub const PAGE_WIDTH: f32 = 612.0;
pub const PAGE_HEIGHT: f32 = 792.0;
pub const MARGIN: f32 = 54.0;
const FOOTER_Y: f32 = PAGE_HEIGHT - 30.0;
const BOTTOM: f32 = PAGE_HEIGHT - MARGIN - 10.0;

struct Fonts {
    regular: Font,
    bold: Font,
}

fn fonts() -> &'static Fonts {
    static FONTS: OnceLock<Fonts> = OnceLock::new();
    FONTS.get_or_init(|| Fonts {
        regular: Font::new(Arc::new(REGULAR.to_vec()).into(), 0).expect("the embedded regular font parses"),
        bold: Font::new(Arc::new(BOLD.to_vec()).into(), 0).expect("the embedded bold font parses"),
    })
}

/// The width of `text` at `size` points, from the font's advance widths.
pub fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let data = if bold { BOLD } else { REGULAR };
    let Ok(font) = skrifa::FontRef::new(data) else { return 0.0 };
    let charmap = font.charmap();
    let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
    text.chars().map(|c| charmap.map(c).and_then(|g| metrics.advance_width(g)).unwrap_or(size * 0.6)).sum()
}

/// Shortens `text` with an ellipsis until it fits `width`.
pub fn fit(text: &str, size: f32, bold: bool, width: f32) -> String {
    if text_width(text, size, bold) <= width {
        return text.to_owned();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let candidate: String = chars.iter().collect::<String>() + "…";
        if text_width(&candidate, size, bold) <= width {
            return candidate;
        }
    }
    String::new()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

#[derive(Debug, Clone)]
enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, text: String },
    Rule { y: f32 },
}

/// A column of a table: where it starts, how wide it is, how it aligns.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub x: f32,
    pub width: f32,
    pub align: Align,
}

/// Lays out a document top to bottom, breaking pages as needed.
pub struct Layout {
    title: String,
    pages: Vec<Vec<Op>>,
    y: f32,
    /// Drawn again at the top of each new page while a table runs.
    repeat: Option<(Vec<Column>, Vec<String>)>,
}

impl Layout {
    pub fn new(title: &str) -> Self {
        Layout { title: title.to_owned(), pages: vec![Vec::new()], y: MARGIN, repeat: None }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a layout always has a page")
    }

    /// Makes room for `height`, starting a new page (and repeating the table header) when needed.
    fn room(&mut self, height: f32) {
        if self.y + height > BOTTOM {
            self.pages.push(Vec::new());
            self.y = MARGIN;
            if let Some((columns, header)) = self.repeat.clone() {
                self.row_unchecked(&columns, &header, 9.0, true);
                self.rule();
            }
        }
    }

    /// One line of text at `x`.
    pub fn line(&mut self, x: f32, text: &str, size: f32, bold: bool) {
        self.room(size * 1.5);
        self.y += size * 1.2;
        let (y, text) = (self.y, text.to_owned());
        self.ops().push(Op::Text { x, y, size, bold, text });
        self.y += size * 0.3;
    }

    /// Text wrapped to the page width, word by word.
    pub fn paragraph(&mut self, text: &str, size: f32, bold: bool) {
        let width = PAGE_WIDTH - 2.0 * MARGIN;
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
            if text_width(&candidate, size, bold) <= width || line.is_empty() {
                line = candidate;
            } else {
                self.line(MARGIN, &line, size, bold);
                line = word.to_owned();
            }
        }
        if !line.is_empty() {
            // A single word wider than the page is cut to fit.
            let line = fit(&line, size, bold, width);
            self.line(MARGIN, &line, size, bold);
        }
    }

    /// Text placed on the current line without moving down (e.g. a right-aligned heading beside a line).
    pub fn beside(&mut self, x: f32, width: f32, align: Align, text: &str, size: f32, bold: bool) {
        let y = self.y - size * 0.3;
        let text = fit(text, size, bold, width);
        let x = match align {
            Align::Left => x,
            Align::Right => x + width - text_width(&text, size, bold),
        };
        self.ops().push(Op::Text { x, y, size, bold, text });
    }

    pub fn gap(&mut self, height: f32) {
        self.y += height;
    }

    pub fn rule(&mut self) {
        self.room(6.0);
        self.y += 3.0;
        let y = self.y;
        self.ops().push(Op::Rule { y });
        self.y += 3.0;
    }

    fn row_unchecked(&mut self, columns: &[Column], cells: &[String], size: f32, bold: bool) {
        self.y += size * 1.3;
        let y = self.y;
        for (c, text) in columns.iter().zip(cells) {
            let text = fit(text, size, bold, c.width);
            let x = match c.align {
                Align::Left => c.x,
                Align::Right => c.x + c.width - text_width(&text, size, bold),
            };
            self.ops().push(Op::Text { x, y, size, bold, text });
        }
        self.y += size * 0.4;
    }

    /// Starts a table: its header now and at the top of every page it continues on.
    pub fn table_header(&mut self, columns: &[Column], header: &[&str]) {
        let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
        self.room(40.0);
        self.row_unchecked(columns, &header, 9.0, true);
        self.rule();
        self.repeat = Some((columns.to_vec(), header));
    }

    pub fn table_row(&mut self, columns: &[Column], cells: &[String], bold: bool) {
        self.room(14.0);
        self.row_unchecked(columns, cells, 9.0, bold);
    }

    pub fn end_table(&mut self) {
        self.repeat = None;
    }

    /// Renders every page with its footer.
    pub fn render(self) -> Result<Vec<u8>, String> {
        let fonts = fonts();
        let total = self.pages.len();
        let mut document = Document::new();
        for (n, ops) in self.pages.into_iter().enumerate() {
            let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).ok_or("bad page size")?;
            let mut page = document.start_page_with(settings);
            let mut surface = page.surface();
            let footer = format!("{} — page {} of {}", self.title, n + 1, total);
            let footer_ops = [Op::Text {
                x: PAGE_WIDTH - MARGIN - text_width(&footer, 8.0, false),
                y: FOOTER_Y,
                size: 8.0,
                bold: false,
                text: footer,
            }];
            for op in ops.iter().chain(footer_ops.iter()) {
                match op {
                    Op::Text { x, y, size, bold, text } => {
                        let font = if *bold { fonts.bold.clone() } else { fonts.regular.clone() };
                        surface.draw_text(Point::from_xy(*x, *y), font, *size, text, false, TextDirection::Auto);
                    }
                    Op::Rule { y } => {
                        let mut path = PathBuilder::new();
                        path.move_to(MARGIN, *y);
                        path.line_to(PAGE_WIDTH - MARGIN, *y);
                        if let Some(path) = path.finish() {
                            surface.set_fill(None);
                            surface.set_stroke(Some(Stroke { width: 0.5, ..Default::default() }));
                            surface.draw_path(&path);
                            surface.set_stroke(None);
                            surface.set_fill(Some(Default::default()));
                        }
                    }
                }
            }
            surface.finish();
            page.finish();
        }
        document.finish().map_err(|e| format!("the PDF could not be written: {e:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_measured_and_fitted() {
        let w = text_width("175.00", 10.0, false);
        assert!(w > 20.0 && w < 45.0, "{w}");
        assert!(text_width("175.00", 10.0, true) > w * 0.99);
        let fitted = fit(&"x".repeat(200), 10.0, false, 50.0);
        assert!(fitted.ends_with('…') && text_width(&fitted, 10.0, false) <= 50.0);
    }

    #[test]
    fn long_tables_break_pages() {
        let mut l = Layout::new("Test");
        let cols = [Column { x: MARGIN, width: 200.0, align: Align::Left }];
        l.table_header(&cols, &["Item"]);
        for i in 0..200 {
            l.table_row(&cols, &[format!("row {i}")], false);
        }
        assert!(l.pages.len() >= 4);
        let pdf = l.render().unwrap();
        assert!(pdf.starts_with(b"%PDF-"));
    }
}
