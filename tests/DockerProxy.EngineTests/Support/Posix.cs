using System.Runtime.InteropServices;

namespace DockerProxy.EngineTests.Support;

/// <summary>The few libc calls the engine tests need.</summary>
internal static partial class Posix
{
    internal const int SigInt = 2;
    internal const int SigKill = 9;
    internal const int SigTerm = 15;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    internal static partial uint GetEUid();

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    internal static partial int Kill(int pid, int signal);
}
