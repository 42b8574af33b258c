//! The models the command line knows, by name: a leaf that every
//! subcommand and the flags' definitions can use.

/// The models, by command-line name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SimName {
    /// 2D Navier–Stokes, vorticity form, periodic (the spec's problem).
    Ns2d,
    /// Viscous Burgers on a periodic line (a steepening shock).
    Burgers,
    /// The lid-driven cavity (walls, a sparse Cholesky solve).
    Cavity,
    /// Lorenz-96 on a ring of 40 (chaotic), on the field tape.
    Lorenz96,
    /// Rotating shallow water (h, u, v) on a periodic C-grid.
    ShallowWater,
    /// Gray–Scott reaction–diffusion (u, v) with a feed-rate field.
    GrayScott,
}

impl SimName {
    /// Every model, in listing order.
    pub(crate) const ALL: [SimName; 6] = [
        SimName::Ns2d,
        SimName::Burgers,
        SimName::Cavity,
        SimName::Lorenz96,
        SimName::ShallowWater,
        SimName::GrayScott,
    ];

    /// The command-line name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SimName::Ns2d => "ns2d",
            SimName::Burgers => "burgers",
            SimName::Cavity => "cavity",
            SimName::Lorenz96 => "lorenz96",
            SimName::ShallowWater => "shallow-water",
            SimName::GrayScott => "gray-scott",
        }
    }

    /// One line on what it is.
    pub(crate) fn about(self) -> &'static str {
        match self {
            SimName::Ns2d => "2D Navier-Stokes, vorticity-streamfunction, periodic, RK4 (docs/specs/ns2d-periodic.md)",
            SimName::Burgers => "viscous Burgers on a periodic line, a steepening shock, RK4",
            SimName::Cavity => "lid-driven cavity, walls, sparse Cholesky streamfunction, RK4",
            SimName::Lorenz96 => "Lorenz-96 ring of 40 variables, F = 8 (chaotic), RK4 on the field tape",
            SimName::ShallowWater => {
                "rotating shallow water (h, u, v), periodic C-grid, Sadourny energy-conserving, RK4"
            }
            SimName::GrayScott => "Gray-Scott reaction-diffusion (u, v), feed-rate field parameter, SSP-RK3",
        }
    }
}
