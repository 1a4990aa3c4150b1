//! Multi-crop recipes: what crops are cut from each image and how each is augmented, and the
//! sampling of every crop's random parameters (a pure function of the recipe, the image size and
//! the keyed random stream, kept apart from the pixel work).

use crate::image::geometry::{sample_resized_crop, CropBox};
use crate::image::resize::Interpolation;
use crate::image::rng::Rng;
use crate::image::{ImageError, Named, Result};

/// Colour jitter as torchvision's ColorJitter: factors drawn from [max(0, 1-b), 1+b] etc., the
/// four operations in a random order, the whole applied with probability `p`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    pub p: f64,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
}

/// One group of crops sharing a size and an augmentation (e.g. DINO's 8 local crops).
#[derive(Clone, Debug, PartialEq)]
pub struct CropGroup {
    pub count: usize,
    /// Output (height, width).
    pub size: (usize, usize),
    pub scale: (f64, f64),
    pub ratio: (f64, f64),
    pub interpolation: Interpolation,
    pub flip_p: f64,
    pub jitter: Jitter,
    pub grayscale_p: f64,
    pub blur_p: f64,
    pub blur_sigma: (f64, f64),
    pub solarize_p: f64,
    pub solarize_threshold: u8,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    pub groups: Vec<CropGroup>,
}

/// The order of the colour-jitter operations, as indices into [brightness, contrast, saturation, hue].
pub type JitterOrder = [u8; 4];

/// Every random parameter of one crop, drawn before any pixel is touched.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CropParams {
    pub crop: CropBox,
    pub flip: bool,
    pub jitter: bool,
    pub brightness: f64,
    pub contrast: f64,
    pub saturation: f64,
    pub hue: f64,
    pub order: JitterOrder,
    pub grayscale: bool,
    /// 0 when no blur is applied.
    pub blur_sigma: f64,
    pub solarize: bool,
}

/// Number of f64 fields `CropParams::to_row` writes.
pub const PARAM_FIELDS: usize = 17;

/// What a field of a [`CropParams::to_row`] row holds (Python turns the row into tensors of
/// these dtypes: `trex.data.loader.Batch.params`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    Int,
    Bool,
    Float,
}

impl Named for ParamKind {
    const WHAT: &'static str = "parameter kind";
    const ALL: &'static [(&'static str, Self)] =
        &[("int", ParamKind::Int), ("bool", ParamKind::Bool), ("float", ParamKind::Float)];
}

/// The name and kind of each field of [`CropParams::to_row`], in order; exported to Python as
/// `trex._trex.CROP_PARAMS` (`trex.data.recipes.PARAM_NAMES`).
pub const CROP_PARAMS: [(&str, ParamKind); PARAM_FIELDS] = {
    use ParamKind::{Bool, Float, Int};
    [
        ("top", Int),
        ("left", Int),
        ("height", Int),
        ("width", Int),
        ("flip", Bool),
        ("jitter", Bool),
        ("brightness", Float),
        ("contrast", Float),
        ("saturation", Float),
        ("hue", Float),
        ("order0", Int),
        ("order1", Int),
        ("order2", Int),
        ("order3", Int),
        ("grayscale", Bool),
        ("blur_sigma", Float),
        ("solarize", Bool),
    ]
};

/// Crops per image a recipe may ask for (every crop of every group together).
pub const MAX_CROPS: usize = 256;

impl CropParams {
    /// Flat row for `return_params`, in the order of [`CROP_PARAMS`]: top, left, height, width, flip,
    /// jitter, brightness, contrast, saturation, hue, order[0..4], grayscale, blur_sigma, solarize.
    pub fn to_row(&self) -> [f64; PARAM_FIELDS] {
        let b = |v: bool| if v { 1.0 } else { 0.0 };
        [
            self.crop.top as f64,
            self.crop.left as f64,
            self.crop.height as f64,
            self.crop.width as f64,
            b(self.flip),
            b(self.jitter),
            self.brightness,
            self.contrast,
            self.saturation,
            self.hue,
            self.order[0] as f64,
            self.order[1] as f64,
            self.order[2] as f64,
            self.order[3] as f64,
            b(self.grayscale),
            self.blur_sigma,
            b(self.solarize),
        ]
    }
}

fn check_range(name: &str, (lo, hi): (f64, f64), min: f64) -> Result<()> {
    if !(lo.is_finite() && hi.is_finite() && lo >= min && lo <= hi) {
        return Err(ImageError::Parameter(format!("{name} range ({lo}, {hi}) must satisfy {min} <= lo <= hi")));
    }
    Ok(())
}

fn check_prob(name: &str, p: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&p) {
        return Err(ImageError::Parameter(format!("{name} probability {p} is not in [0, 1]")));
    }
    Ok(())
}

impl CropGroup {
    pub fn validate(&self) -> Result<()> {
        if self.count == 0 || self.size.0 == 0 || self.size.1 == 0 {
            return Err(ImageError::Parameter(format!(
                "crop group needs count >= 1 and a non-empty size, got count {} size {:?}",
                self.count, self.size
            )));
        }
        if self.count > MAX_CROPS {
            return Err(ImageError::Parameter(format!(
                "crop group count {} exceeds the limit of {MAX_CROPS} crops",
                self.count
            )));
        }
        crate::image::check_output_size(self.size.0 as u64, self.size.1 as u64)?;
        check_range("scale", self.scale, f64::MIN_POSITIVE)?;
        if self.scale.1 > 1.0 {
            return Err(ImageError::Parameter(format!("scale upper bound {} exceeds 1", self.scale.1)));
        }
        check_range("ratio", self.ratio, f64::MIN_POSITIVE)?;
        check_range("blur sigma", self.blur_sigma, 0.0)?;
        for (name, p) in [
            ("flip", self.flip_p),
            ("jitter", self.jitter.p),
            ("grayscale", self.grayscale_p),
            ("blur", self.blur_p),
            ("solarize", self.solarize_p),
        ] {
            check_prob(name, p)?;
        }
        if self.blur_p > 0.0 && self.blur_sigma.0 <= 0.0 {
            return Err(ImageError::Parameter("blur sigma must be > 0".into()));
        }
        let j = &self.jitter;
        for (name, v) in [("brightness", j.brightness), ("contrast", j.contrast), ("saturation", j.saturation)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(ImageError::Parameter(format!("jitter {name} {v} must be >= 0")));
            }
        }
        if !(0.0..=0.5).contains(&j.hue) {
            return Err(ImageError::Parameter(format!("jitter hue {} is not in [0, 0.5]", j.hue)));
        }
        Ok(())
    }

    /// Draws one crop's parameters, in torchvision's order: crop box, flip, colour jitter
    /// (apply?, order, factors), grayscale, blur, solarize.
    pub fn sample(&self, width: usize, height: usize, rng: &mut Rng) -> CropParams {
        let crop = sample_resized_crop(width, height, self.scale, self.ratio, rng);
        let flip = rng.bernoulli(self.flip_p);
        let j = &self.jitter;
        let jitter = j.p > 0.0 && rng.bernoulli(j.p);
        let mut order: JitterOrder = [0, 1, 2, 3];
        let (mut brightness, mut contrast, mut saturation, mut hue) = (1.0, 1.0, 1.0, 0.0);
        if jitter {
            rng.shuffle(&mut order);
            let factor = |rng: &mut Rng, amount: f64| {
                if amount > 0.0 {
                    rng.uniform_in((1.0 - amount).max(0.0), 1.0 + amount)
                } else {
                    1.0
                }
            };
            brightness = factor(rng, j.brightness);
            contrast = factor(rng, j.contrast);
            saturation = factor(rng, j.saturation);
            if j.hue > 0.0 {
                hue = rng.uniform_in(-j.hue, j.hue);
            }
        }
        let grayscale = rng.bernoulli(self.grayscale_p);
        let blur_sigma = if self.blur_p > 0.0 && rng.bernoulli(self.blur_p) {
            rng.uniform_in(self.blur_sigma.0, self.blur_sigma.1)
        } else {
            0.0
        };
        let solarize = rng.bernoulli(self.solarize_p);
        CropParams { crop, flip, jitter, brightness, contrast, saturation, hue, order, grayscale, blur_sigma, solarize }
    }
}

impl Recipe {
    pub fn validate(&self) -> Result<()> {
        if self.groups.is_empty() {
            return Err(ImageError::Parameter("a recipe needs at least one crop group".into()));
        }
        self.groups.iter().try_for_each(CropGroup::validate)?;
        let total: usize = self.groups.iter().map(|g| g.count).sum();
        if total > MAX_CROPS {
            return Err(ImageError::Parameter(format!("a recipe of {total} crops exceeds the limit of {MAX_CROPS}")));
        }
        Ok(())
    }

    pub fn num_crops(&self) -> usize {
        self.groups.iter().map(|g| g.count).sum()
    }

    /// The group each crop belongs to, in crop order.
    pub fn crop_groups(&self) -> impl Iterator<Item = &CropGroup> {
        self.groups.iter().flat_map(|g| std::iter::repeat_n(g, g.count))
    }

    /// Output tensors: consecutive groups of the same size share one tensor.
    /// Returns (height, width, number of crops) per output.
    pub fn outputs(&self) -> Vec<(usize, usize, usize)> {
        let mut out: Vec<(usize, usize, usize)> = Vec::new();
        for g in &self.groups {
            match out.last_mut() {
                Some(last) if (last.0, last.1) == g.size => last.2 += g.count,
                _ => out.push((g.size.0, g.size.1, g.count)),
            }
        }
        out
    }

    /// Every crop's parameters for one sample, keyed on (seed, epoch, sample, crop).
    pub fn sample_params(&self, width: usize, height: usize, seed: u64, epoch: u64, index: u64) -> Vec<CropParams> {
        self.crop_groups()
            .enumerate()
            .map(|(c, g)| g.sample(width, height, &mut Rng::keyed(seed, &[epoch, index, c as u64])))
            .collect()
    }
}
