#include "mtp_file.hpp"

#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace lotf::mtp {

namespace {

std::vector<double> numbers(const std::string& text) {
    static const std::regex number(R"([-+0-9.eE]+)");
    std::vector<double> values;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it)
        values.push_back(std::stod(it->str()));
    return values;
}

std::string trim(const std::string& s) {
    const auto first = s.find_first_not_of(" \t\r"), last = s.find_last_not_of(" \t\r");
    return first == std::string::npos ? "" : s.substr(first, last - first + 1);
}

std::vector<std::array<int, 4>> rows(const std::vector<double>& values) {
    std::vector<std::array<int, 4>> result(values.size() / 4);
    for (std::size_t i = 0; i < result.size(); ++i)
        for (int c = 0; c < 4; ++c) result[i][c] = static_cast<int>(values[4 * i + c]);
    return result;
}

}  // namespace

Model read_mtp_file(const std::string& path) {
    std::ifstream file(path);
    if (!file) throw std::runtime_error("cannot open MTP file " + path);
    std::map<std::string, std::string> values;
    std::vector<double> radial;
    std::string line;
    int row = 0;
    while (std::getline(file, line)) {
        ++row;
        line = trim(line);
        if (line == "radial_coeffs") {  // species^2 blocks of "i-j" then radial_funcs_count rows
            const int species = std::stoi(values.at("species_count"));
            const int functions = std::stoi(values.at("radial_funcs_count"));
            for (int block = 0; block < species * species; ++block) {
                std::getline(file, line);
                for (int mu = 0; mu < functions && std::getline(file, line); ++mu) {
                    const auto row_values = numbers(line);
                    radial.insert(radial.end(), row_values.begin(), row_values.end());
                }
            }
            continue;
        }
        const auto equals = line.find('=');
        if (equals != std::string::npos) values[trim(line.substr(0, equals))] = trim(line.substr(equals + 1));
    }
    auto get = [&](const char* key) -> const std::string& {
        const auto it = values.find(key);
        if (it == values.end()) throw std::runtime_error(path + ": no " + key + " (an untrained or damaged MTP file)");
        return it->second;
    };
    Basis b;
    b.species_count = std::stoi(get("species_count"));
    b.min_dist = std::stod(get("min_dist"));
    b.max_dist = std::stod(get("max_dist"));
    b.radial_basis_size = std::stoi(get("radial_basis_size"));
    b.radial_funcs_count = std::stoi(get("radial_funcs_count"));
    b.moments_count = std::stoi(get("alpha_moments_count"));
    b.scaling = values.count("scaling") ? std::stod(values["scaling"]) : 1.0;
    b.basic = rows(numbers(get("alpha_index_basic")));
    b.times = rows(numbers(values.count("alpha_index_times") ? values["alpha_index_times"] : ""));
    for (double m : numbers(get("alpha_moment_mapping"))) b.mapping.push_back(static_cast<int>(m));
    std::vector<double> parameters = numbers(get("moment_coeffs"));
    const auto species = numbers(get("species_coeffs"));
    parameters.insert(parameters.end(), species.begin(), species.end());
    parameters.insert(parameters.end(), radial.begin(), radial.end());
    try {
        return Model(std::move(b), std::move(parameters));
    } catch (const std::invalid_argument& error) {
        throw std::runtime_error(path + ": " + error.what());
    }
}

}  // namespace lotf::mtp
