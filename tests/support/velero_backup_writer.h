// Velero-layout backup writer for tests: the implementation lives in tools/demo/velero_writer.h
// (the demo writes the same backups); this header keeps the tests' names in ocpvdr::testing.
#pragma once

#include "demo/velero_writer.h"

namespace ocpvdr::testing {

using demo::addDataVolumePvcState;
using demo::DvPvcState;
using demo::groupResourceOf;
using demo::Json;
using demo::sampleCsiPv;
using demo::sampleDataVolume;
using demo::sampleDataVolumePvc;
using demo::samplePv;
using demo::samplePvc;
using demo::sampleVm;
using demo::TarEntry;
using demo::tarGz;
using demo::TimePoint;
using demo::veleroBackupJson;
using demo::veleroBackupObjects;
using demo::VeleroBackupSpec;
using demo::veleroTarball;
using demo::VeleroTarballOptions;
using demo::writeTarGz;
using demo::writeVeleroTarball;

}  // namespace ocpvdr::testing
