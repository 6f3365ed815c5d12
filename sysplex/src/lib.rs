//! The emulated sysplex: topology files, the LPAR runner, the operator console and scenarios.
