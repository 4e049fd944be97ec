namespace DockerProxy.Relay;

/// <summary>
/// Returns memory after a load peak has passed: a full, compacting collection that also gives
/// freed heap back to the system. A proxy lives for months; without this, objects of a crowd of
/// flows that lived long enough to reach gen2 stay until the next full GC, which a quiet proxy may
/// never reach. Called rarely (a peak of at least a thousand flows has dropped by three quarters).
/// </summary>
internal static class MemoryTrim
{
    internal static void Now() => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
}
