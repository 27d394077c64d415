//! Labelled image grids: blocks of images (a title above each block, a label left of each
//! row and above each column), laid out block by block, as the demo and bench reports draw
//! their restorations.

use crate::text::{draw_text, text_width};
use image::{Rgb, RgbImage};

/// An image in `[-1, 1]`, `C x H x W` with `C` 1 (grey) or 3 (RGB), as vmlmap stores them.
#[derive(Clone, Debug)]
pub struct Tile {
    pub data: Vec<f64>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
}

/// One block: `rows[r][c]` is the tile at row `r`, column `c` (`None` leaves a gap).
#[derive(Clone, Debug, Default)]
pub struct Block {
    pub title: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub rows: Vec<Vec<Option<Tile>>>,
}

/// Blocks laid out `block_cols` per line; tiles drawn `zoom` times their size (nearest
/// neighbour), separated by `gap` pixels.
#[derive(Clone, Debug)]
pub struct LabelledGrid {
    pub blocks: Vec<Block>,
    pub block_cols: usize,
    pub zoom: usize,
}

const GAP: u32 = 4;
const MARGIN: u32 = 16;
const LABEL_PX: u32 = 14;
const TITLE_PX: u32 = 17;

impl Tile {
    fn rgb(&self, y: usize, x: usize) -> [u8; 3] {
        let p = self.height * self.width;
        let to8 = |v: f64| ((v.clamp(-1.0, 1.0) + 1.0) * 127.5).round() as u8;
        let at = |c: usize| to8(self.data[c * p + y * self.width + x]);
        if self.channels == 3 {
            [at(0), at(1), at(2)]
        } else {
            [at(0); 3]
        }
    }
}

impl Block {
    /// Tile size of the block (its first tile; all tiles of a block share it).
    fn tile_size(&self) -> (u32, u32) {
        self.rows
            .iter()
            .flatten()
            .flatten()
            .next()
            .map(|t| (t.width as u32, t.height as u32))
            .unwrap_or((0, 0))
    }

    fn cols(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.col_labels.len())
    }
}

impl LabelledGrid {
    /// Draws the grid on white.
    pub fn draw(&self) -> RgbImage {
        let z = self.zoom.max(1) as u32;
        let label_w = self
            .blocks
            .iter()
            .flat_map(|b| b.row_labels.iter())
            .map(|l| text_width(l, LABEL_PX))
            .max()
            .unwrap_or(0)
            + 8;
        let head_h = TITLE_PX + 6 + LABEL_PX + 6;
        // Every block gets the same cell size: the largest block's.
        let (tw, th) = self
            .blocks
            .iter()
            .map(Block::tile_size)
            .fold((0, 0), |a, b| (a.0.max(b.0), a.1.max(b.1)));
        let (tw, th) = (tw * z, th * z);
        let cols = self.blocks.iter().map(Block::cols).max().unwrap_or(0) as u32;
        let rows = self.blocks.iter().map(|b| b.rows.len()).max().unwrap_or(0) as u32;
        let col_w = text_width_max(&self.blocks) + 4;
        let cell_w = tw.max(col_w);
        let block_w = label_w + cols * (cell_w + GAP);
        let block_h = head_h + rows * (th + GAP);
        let per_line = self.block_cols.max(1) as u32;
        let lines = (self.blocks.len() as u32).div_ceil(per_line);
        let width = MARGIN * 2 + per_line.min(self.blocks.len().max(1) as u32) * (block_w + MARGIN);
        let height = MARGIN * 2 + lines * (block_h + MARGIN);
        let mut img = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
        for (k, block) in self.blocks.iter().enumerate() {
            let (bx, by) = (
                MARGIN + (k as u32 % per_line) * (block_w + MARGIN),
                MARGIN + (k as u32 / per_line) * (block_h + MARGIN),
            );
            draw_text(&mut img, &block.title, bx as i32, by as i32, TITLE_PX);
            for (c, label) in block.col_labels.iter().enumerate() {
                let x = bx + label_w + c as u32 * (cell_w + GAP);
                draw_text(
                    &mut img,
                    label,
                    x as i32,
                    (by + TITLE_PX + 6) as i32,
                    LABEL_PX,
                );
            }
            for (r, row) in block.rows.iter().enumerate() {
                let y = by + head_h + r as u32 * (th + GAP);
                if let Some(label) = block.row_labels.get(r) {
                    let ty = y + th / 2 - LABEL_PX / 2;
                    draw_text(&mut img, label, bx as i32, ty as i32, LABEL_PX);
                }
                for (c, tile) in row.iter().enumerate() {
                    let Some(t) = tile else { continue };
                    let x = bx + label_w + c as u32 * (cell_w + GAP);
                    for i in 0..t.height as u32 * z {
                        for j in 0..t.width as u32 * z {
                            let p = t.rgb((i / z) as usize, (j / z) as usize);
                            img.put_pixel(x + j, y + i, Rgb(p));
                        }
                    }
                }
            }
        }
        img
    }
}

fn text_width_max(blocks: &[Block]) -> u32 {
    blocks
        .iter()
        .flat_map(|b| b.col_labels.iter())
        .map(|l| text_width(l, LABEL_PX))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(v: f64) -> Tile {
        Tile {
            data: vec![v; 4 * 4],
            channels: 1,
            height: 4,
            width: 4,
        }
    }

    #[test]
    fn tiles_are_placed_and_labels_drawn() {
        let block = |title: &str| Block {
            title: title.into(),
            row_labels: vec!["ground truth".into(), "pinv".into()],
            col_labels: vec!["img 1".into(), "img 2".into()],
            rows: vec![
                vec![Some(tile(-1.0)), Some(tile(-1.0))],
                vec![Some(tile(-1.0)), None],
            ],
        };
        let grid = LabelledGrid {
            blocks: vec![block("sr4, noise-free"), block("sr4, sigma_y 0.05")],
            block_cols: 2,
            zoom: 5,
        };
        let img = grid.draw();
        let black = img.pixels().filter(|p| p.0 == [0, 0, 0]).count();
        // Three 20x20 black tiles per block, plus the ink of the labels.
        assert!(black >= 2 * 3 * 400, "{black}");
        assert!(black < 2 * 4 * 400 + 20_000, "{black}");
        // The two blocks sit side by side.
        assert!(
            img.width() > 2 * img.height() / 2,
            "{}x{}",
            img.width(),
            img.height()
        );
    }
}
