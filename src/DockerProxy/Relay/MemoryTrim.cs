namespace DockerProxy.Relay;

/// <summary>
/// Returns memory after a load peak has passed: a full, compacting collection that also gives
/// freed heap back to the system. A proxy lives for months; without this, objects of a crowd of
/// flows that lived long enough to reach gen2 stay until the next full GC, which a quiet proxy may
/// never reach, and the C heap keeps what the sockets' native state freed. Called rarely (a peak of at least a thousand flows has dropped by three quarters).
/// </summary>
internal static partial class MemoryTrim
{
    internal static void Now()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);

        // The sockets' native side (the runtime's per-socket state) lives on glibc's heap, which
        // keeps freed memory in its arenas: hand what is free back to the system too.
        _ = MallocTrim(0);
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);
}
