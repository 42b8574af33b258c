//! Your own model in 23 lines and its loss in one: FitzHugh–Nagumo excitable media, two fields
//! (u, w), a log-parameterised diffusivity and a stimulus field as named
//! parameters; gradient and HVP under binomial checkpointing, checked
//! against finite differences. `cargo run --release -p rewind-examples --example your_own_model`
use rewind_sim::prelude::*;

#[derive(Debug, Clone)]
struct FitzHughNagumo {
    grid: Grid,
}

impl Model for FitzHughNagumo {
    fn layout(&self) -> Layout {
        Layout::new(self.grid).field("u").field("w")
    }
    fn params(&self) -> ParamSet {
        ParamSet::new().scalar("log_d", 0.5f64.ln()).field("stimulus", self.grid.sample(|x, _| 0.3 * x.sin()))
    }
    fn step<'id, T: Number>(&self, at: &StepAt<'_, 'id, T>, x: &State<'id, T>) -> Result<State<'id, T>, SimError> {
        let p = at.params();
        let (d, stim) = (p.scalar("log_d")?.exp(), p.field("stimulus")?);
        Integrator::Rk4.step(at.ctx(), x, 0.05, |s| {
            let [u, w] = s.split()?;
            let du = u.laplacian() * d + u - u * u * u * (1.0 / 3.0) - w + stim;
            let dw = (u + 0.7 - w * 0.8) * 0.08;
            Ok::<_, SimError>(State::from([du, dw]))
        })
    }
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, a| m.max(a.abs()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let grid = Grid::periodic_square(32, 20.0)?;
    let model = FitzHughNagumo { grid };
    // J = ½ ‖u_n − 1‖² (ready terms add up: Observations, Background, weights)
    let loss = Terminal::of("u", vec![1.0; grid.len()]);
    let mut problem = Problem::new(model, loss, Strategy::Binomial { snapshots: 8 }, 200, Par::Seq)?;
    let x0 = problem
        .layout()
        .pack(&[("u", &grid.sample(|x, y| (x * 0.3).cos() * (y * 0.2).sin())), ("w", &vec![0.0; grid.len()])])?;
    let g = problem.gradient(&x0)?;
    let norm = |v: &[f64]| v.iter().map(|a| a * a).sum::<f64>().sqrt();
    println!(
        "J = {:.6e}, dJ/dlog_d = {:.6e}, |dJ/dstimulus| = {:.6e}, |dJ/du0| = {:.6e}",
        g.objective,
        g.param("log_d")?[0],
        norm(g.param("stimulus")?),
        norm(g.state("u")?)
    );
    // the run alone, at chosen steps (what observations of a twin experiment are made from)
    let states = problem.states_at(&x0, &[100, 200])?;
    println!(
        "max |u| at steps 100 and 200: {:.4} {:.4}",
        max_abs(problem.layout().part(&states[0], "u")?),
        max_abs(problem.layout().part(&states[1], "u")?)
    );
    let v_x: Vec<f64> = (0..x0.len()).map(|k| ((k % 7) as f64 - 3.0) * 1e-2).collect();
    let v_p = problem.param_direction(&[("log_d", &[1.0])])?;
    // part by part (u, w, log_d), each direction scaled to its part, the best of a sweep of steps
    let c = check(&mut problem, &x0, &v_x, &v_p, &check::SWEEP)?;
    print!("against central differences:\n{c}");
    println!("{} forward steps for 200 steps under binomial:8", g.counters.forward_steps);
    Ok(())
}
