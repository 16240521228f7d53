// The central binary's subcommand table (collector, sync and operator commands
// are added here as they land).
#pragma once

#include <span>

#include "picket/common/command_line.h"

namespace picket::cli {

std::span<const Command> CentralCommands();

}  // namespace picket::cli
