// picket: the central tool (collector, sync, operator CLI). Thin: the command
// table lives in the cli module.
#include "picket/cli/central_commands.h"

int main(int argc, char** argv) {
  return picket::RunCommandTable("picket", "picket's central tool: collector, sync, operator CLI",
                                 picket::cli::CentralCommands(), argc, argv);
}
