// Python bindings of the MTP core (lotf.potential._mtp): arrays in, NumPy arrays out.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/vector.h>

#include <memory>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "configuration.hpp"

namespace nb = nanobind;
using namespace nb::literals;
using namespace lotf::mtp;

namespace {

template <class T, class... Extra>
using In = nb::ndarray<const T, nb::c_contig, nb::device::cpu, Extra...>;
using Array = nb::ndarray<nb::numpy, double>;

// A NumPy array that owns `values` (moved to the heap, freed with the array).
template <class T>
Array owned(std::vector<T>&& values, std::initializer_list<std::size_t> shape) {
    auto* heap = new std::vector<T>(std::move(values));
    nb::capsule owner(heap, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
    return Array(reinterpret_cast<double*>(heap->data()), shape, owner);
}

std::vector<std::array<int, 4>> rows4(const In<int, nb::shape<-1, 4>>& a) {
    std::vector<std::array<int, 4>> rows(a.shape(0));
    for (std::size_t i = 0; i < rows.size(); ++i)
        for (int c = 0; c < 4; ++c) rows[i][c] = a(i, c);
    return rows;
}

template <class T, class... Extra>
std::vector<T> flat(const In<T, Extra...>& a) {
    return std::vector<T>(a.data(), a.data() + a.size());
}

std::vector<Vec3> vectors(const In<double, nb::shape<-1, 3>>& a) {
    std::vector<Vec3> r(a.shape(0));
    for (std::size_t i = 0; i < r.size(); ++i) r[i] = {a(i, 0), a(i, 1), a(i, 2)};
    return r;
}

Mat3 matrix(const In<double, nb::shape<3, 3>>& m) {
    Mat3 result;
    for (int a = 0; a < 3; ++a)
        for (int b = 0; b < 3; ++b) result[a][b] = m(a, b);
    return result;
}

// Neighbours of a configuration given as ASE arrays.
NeighbourList neighbours_of(const In<double, nb::shape<-1, 3>>& positions, const In<double, nb::shape<3, 3>>& cell,
                            const In<bool, nb::shape<3>>& pbc, double cutoff) {
    return build_neighbours(vectors(positions), matrix(cell), {pbc(0), pbc(1), pbc(2)}, cutoff);
}

std::vector<int> types_of(const In<int, nb::shape<-1>>& types, int species) {
    std::vector<int> t = flat<int>(types);
    for (int v : t)
        if (v < 0 || v >= species) throw std::invalid_argument("species index out of the potential's range");
    return t;
}

// Labelled configurations with their neighbour lists, built once per fit.
struct TrainingSet {
    double cutoff;
    std::vector<Sample> samples;
};

// A normal-equations builder run without the GIL, its (hessian, rhs) as NumPy arrays.
template <class Builder>
std::pair<Array, Array> normal_system(Builder build, const TrainingSet& set, const Model& model, const Weights& w) {
    std::pair<std::vector<double>, std::vector<double>> system;
    {
        nb::gil_scoped_release release;
        system = build(model, set.samples, w);
    }
    const std::size_t n = system.second.size();
    return {owned(std::move(system.first), {n, n}), owned(std::move(system.second), {n})};
}

}  // namespace

NB_MODULE(_mtp, m) {
    m.doc() = "lotf's native moment tensor potential core (C++17, OpenMP)";

    nb::class_<Model>(m, "Model")
        .def(
            "__init__",
            [](Model* self, int species_count, int radial_basis_size, int radial_funcs_count, double min_dist,
               double max_dist, double scaling, In<int, nb::shape<-1, 4>> basic, In<int, nb::shape<-1, 4>> times,
               In<int, nb::shape<-1>> mapping, int moments_count, In<double, nb::shape<-1>> parameters) {
                Basis b{species_count, radial_basis_size, radial_funcs_count, moments_count, min_dist,
                        max_dist,      scaling,           rows4(basic),       rows4(times), flat<int>(mapping)};
                new (self) Model(std::move(b), flat<double>(parameters));
            },
            "species_count"_a, "radial_basis_size"_a, "radial_funcs_count"_a, "min_dist"_a, "max_dist"_a,
            "scaling"_a, "basic"_a, "times"_a, "mapping"_a, "moments_count"_a, "parameters"_a)
        .def_prop_rw(
            "parameters", [](const Model& self) { return owned(std::vector<double>(self.parameters()), {self.parameter_count()}); },
            [](Model& self, In<double, nb::shape<-1>> p) { self.set_parameters(flat<double>(p)); },
            nb::for_getter(nb::rv_policy::move))
        .def_prop_ro("parameter_count", &Model::parameter_count);

    m.def(
        "evaluate",
        [](const Model& model, In<int, nb::shape<-1>> types, In<double, nb::shape<-1, 3>> positions,
           In<double, nb::shape<3, 3>> cell, In<bool, nb::shape<3>> pbc, bool forces, bool basis,
           VerletList* verlet) {
            const std::size_t natoms = positions.shape(0);
            if (types.shape(0) != natoms) throw std::invalid_argument("types and positions differ in length");
            std::vector<int> t = types_of(types, model.basis().species_count);
            if (verlet && verlet->cutoff() < model.basis().max_dist)
                throw std::invalid_argument("the Verlet list's cutoff is below the potential's");
            Evaluation e;
            {
                nb::gil_scoped_release release;
                const NeighbourList fresh =
                    verlet ? NeighbourList{} : build_neighbours(vectors(positions), matrix(cell), {pbc(0), pbc(1), pbc(2)},
                                                                model.basis().max_dist);
                const NeighbourList& list =
                    verlet ? verlet->update(vectors(positions), matrix(cell), {pbc(0), pbc(1), pbc(2)}) : fresh;
                e = evaluate(model, t, list, forces, basis);
            }
            nb::dict result;
            result["energy"] = e.energy;
            result["energies"] = owned(std::move(e.site_energies), {natoms});
            if (forces) {
                std::vector<double> virial(9);
                for (int a = 0; a < 3; ++a)
                    for (int b = 0; b < 3; ++b) virial[3 * a + b] = e.virial[a][b];
                result["forces"] = owned(std::move(e.forces), {natoms, 3});
                result["virial"] = owned(std::move(virial), {3, 3});
            }
            if (basis) result["basis"] = owned(std::move(e.basis), {natoms, model.parameter_count()});
            return result;
        },
        "model"_a, "types"_a, "positions"_a, "cell"_a, "pbc"_a, "forces"_a = true, "basis"_a = false,
        "verlet"_a.none() = nb::none(),
        "Energy, site energies and, if asked, forces, virial (stress * volume) and per-atom basis rows.");

    m.def(
        "neighbour_counts",
        [](In<double, nb::shape<-1, 3>> positions, In<double, nb::shape<3, 3>> cell, In<bool, nb::shape<3>> pbc,
           double cutoff) {
            NeighbourList list = neighbours_of(positions, cell, pbc, cutoff);
            std::vector<double> counts(list.size());
            for (int i = 0; i < list.size(); ++i) counts[i] = list.offsets[i + 1] - list.offsets[i];
            return owned(std::move(counts), {counts.size()});
        },
        "positions"_a, "cell"_a, "pbc"_a, "cutoff"_a, "Neighbours of each atom closer than cutoff.");

    nb::class_<VerletList>(m, "VerletList")
        .def(nb::init<double, double>(), "cutoff"_a, "skin"_a)
        .def_prop_ro("builds", &VerletList::builds);

    nb::class_<TrainingSet>(m, "TrainingSet")
        .def(nb::init<double>(), "cutoff"_a)
        .def(
            "add",
            [](TrainingSet& self, In<int, nb::shape<-1>> types, In<double, nb::shape<-1, 3>> positions,
               In<double, nb::shape<3, 3>> cell, In<bool, nb::shape<3>> pbc, double volume, double energy,
               std::optional<In<double, nb::shape<-1, 3>>> forces,
               std::optional<In<double, nb::shape<3, 3>>> stress) {
                Sample s;
                s.types = flat<int>(types);
                s.neighbours = neighbours_of(positions, cell, pbc, self.cutoff);
                for (int j : s.neighbours.atom) s.neighbour_types.push_back(s.types[j]);
                s.volume = volume;
                s.energy = energy;
                if (forces) {
                    if (forces->shape(0) != positions.shape(0)) throw std::invalid_argument("forces and positions differ in length");
                    for (std::size_t i = 0; i < forces->shape(0); ++i)
                        s.forces.push_back({(*forces)(i, 0), (*forces)(i, 1), (*forces)(i, 2)});
                }
                if (stress) s.has_stress = true, s.stress = matrix(*stress);
                self.samples.push_back(std::move(s));
            },
            "types"_a, "positions"_a, "cell"_a, "pbc"_a, "volume"_a, "energy"_a, "forces"_a.none(),
            "stress"_a.none())
        .def("__len__", [](const TrainingSet& self) { return self.samples.size(); })
        .def(
            "loss",
            [](const TrainingSet& self, const Model& model, double energy, double forces, double stress,
               bool gradient) {
                if (model.basis().max_dist > self.cutoff) throw std::invalid_argument("model cutoff beyond the set's");
                Loss l;
                {
                    nb::gil_scoped_release release;
                    l = loss(model, self.samples, {energy, forces, stress}, gradient);
                }
                const std::size_t n = l.gradient.size();
                return std::make_pair(l.value, owned(std::move(l.gradient), {n}));
            },
            "model"_a, "energy"_a, "forces"_a, "stress"_a, "gradient"_a = true,
            "The fitting loss and its gradient in all parameters.")
        .def(
            "normal_equations",
            [](const TrainingSet& self, const Model& model, double energy, double forces, double stress) {
                return normal_system(normal_equations, self, model, {energy, forces, stress});
            },
            "model"_a, "energy"_a, "forces"_a, "stress"_a,
            "Normal equations of the loss in the moment and species coefficients.")
        .def(
            "pair_normal_equations",
            [](const TrainingSet& self, const Model& model, double energy, double forces, double stress) {
                return normal_system(pair_normal_equations, self, model, {energy, forces, stress});
            },
            "model"_a, "energy"_a, "forces"_a, "stress"_a,
            "Normal equations of the level-2 (pair) reduction in radial coefficients of mu = 0 and species.");

    m.def(
        "set_threads",
        [](int n) {
#ifdef _OPENMP
            omp_set_num_threads(n);
#endif
        },
        "n"_a, "Threads the core uses (OpenMP).");
    m.def("max_threads", []() {
#ifdef _OPENMP
        return omp_get_max_threads();
#else
        return 1;
#endif
    });
}
