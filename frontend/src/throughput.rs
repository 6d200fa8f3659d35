//! Bytes in and out per second over the last five minutes, counted from transfer progress, and
//! the SVG paths that draw such series. Plain data: `state` feeds it, `views` draws it.

use std::collections::VecDeque;

/// How many seconds the chart covers.
pub const WINDOW_SECS: u64 = 300;

/// Per-second byte counts, oldest first, for at most [`WINDOW_SECS`] seconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Throughput {
    /// (Unix second, bytes in, bytes out); seconds without traffic are absent.
    seconds: VecDeque<(u64, u64, u64)>,
}

impl Throughput {
    /// Counts `bytes_in` and `bytes_out` as moved during Unix second `sec`, and forgets the
    /// seconds that left the window. A second older than the newest one counted is folded into
    /// its own bucket if it is still kept, else dropped.
    pub fn record(&mut self, sec: u64, bytes_in: u64, bytes_out: u64) {
        if bytes_in == 0 && bytes_out == 0 {
            return;
        }
        match self.seconds.iter_mut().rev().find(|(s, _, _)| *s <= sec) {
            Some(bucket) if bucket.0 == sec => {
                bucket.1 += bytes_in;
                bucket.2 += bytes_out;
            }
            _ => {
                let at = self.seconds.partition_point(|(s, _, _)| *s < sec);
                self.seconds.insert(at, (sec, bytes_in, bytes_out));
            }
        }
        let newest = self.seconds.back().map_or(sec, |b| b.0);
        while self
            .seconds
            .front()
            .is_some_and(|b| b.0 + WINDOW_SECS <= newest)
        {
            self.seconds.pop_front();
        }
    }

    /// Bytes in and out for each of the [`WINDOW_SECS`] seconds up to `now_sec`, oldest first.
    pub fn series(&self, now_sec: u64) -> (Vec<u64>, Vec<u64>) {
        let first = (now_sec + 1).saturating_sub(WINDOW_SECS);
        let mut ins = vec![0; WINDOW_SECS as usize];
        let mut outs = vec![0; WINDOW_SECS as usize];
        for &(sec, i, o) in &self.seconds {
            if (first..=now_sec).contains(&sec) {
                let k = (sec - first) as usize;
                ins[k] = i;
                outs[k] = o;
            }
        }
        (ins, outs)
    }
}

/// The `points` of an SVG polyline drawing `values` across `width` x `height`, the largest of
/// `scale` (or 1) at the top and zero at the bottom.
pub fn polyline(values: &[f64], scale: f64, width: f64, height: f64) -> String {
    let scale = if scale > 0.0 { scale } else { 1.0 };
    let step = width / (values.len().max(2) - 1) as f64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let y = height - (v / scale).clamp(0.0, 1.0) * height;
            format!("{:.1},{:.1}", i as f64 * step, y)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_add_up_per_second_and_old_seconds_leave_the_window() {
        let mut t = Throughput::default();
        t.record(1000, 10, 0);
        t.record(1000, 5, 7);
        t.record(1002, 0, 3);
        t.record(1001, 1, 0); // late, still inside the window
        let (ins, outs) = t.series(1002);
        assert_eq!(ins[WINDOW_SECS as usize - 3..], [15, 1, 0]);
        assert_eq!(outs[WINDOW_SECS as usize - 3..], [7, 0, 3]);
        t.record(1000 + WINDOW_SECS, 1, 0);
        assert_eq!(t.seconds.front().map(|b| b.0), Some(1001));
    }

    #[test]
    fn polyline_spans_the_box_from_zero_to_the_scale() {
        assert_eq!(
            polyline(&[0.0, 5.0, 10.0], 10.0, 100.0, 20.0),
            "0.0,20.0 50.0,10.0 100.0,0.0"
        );
        assert_eq!(polyline(&[0.0, 0.0], 0.0, 10.0, 4.0), "0.0,4.0 10.0,4.0");
    }
}
