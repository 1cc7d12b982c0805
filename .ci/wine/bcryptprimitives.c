/*
 * A stand-in for Windows' bcryptprimitives.dll, for running our Windows test
 * binaries under Wine 8 (Debian 12), which lacks it. Rust's std (1.78+) takes
 * its random seeds from ProcessPrng in that DLL; this one forwards to
 * BCryptGenRandom, which Wine has. Real Windows never loads it: it exists only
 * in the Wine test directory (.ci/windows-tests).
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
