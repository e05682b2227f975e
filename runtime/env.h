#pragma once
// Environment switches (ANNEAL_CUDNN=0, ANNEAL_CUDA_SYNC_CHECKS=1, ...), read one way:
// unset is the default; 1/true/on and 0/false/off (any case) turn it on or off; any other
// value keeps the default and says so once on stderr. Read once per process by callers
// that cache the answer in a static.
namespace anneal {

bool env_switch(const char* name, bool default_on);

}  // namespace anneal
