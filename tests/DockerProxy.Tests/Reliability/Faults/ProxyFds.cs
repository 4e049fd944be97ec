using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability.Faults;

/// <summary>Bounded readings of a proxy's open fds (/proc/PID/fd).</summary>
internal static class ProxyFds
{
    /// <summary>The fds now (entries that vanish while being read are skipped).</summary>
    internal static FdSnapshot Read(SpawnedProcess proxy)
    {
        var targets = new List<string>();
        foreach (string entry in Directory.GetFileSystemEntries($"/proc/{proxy.Pid}/fd"))
        {
            try
            {
                targets.Add(new FileInfo(entry).LinkTarget ?? "?");
            }
            catch (IOException)
            {
                // Closed meanwhile.
            }
        }

        return new FdSnapshot(targets);
    }

    /// <summary>The idle level: once the count stopped changing (three equal readings 100 ms apart, 5 s at most).</summary>
    internal static async Task<FdSnapshot> SettledAsync(SpawnedProcess proxy)
    {
        int count = proxy.OpenFdCount();
        int same = 0;
        for (int i = 0; i < 50 && same < 3; i++)
        {
            await Task.Delay(100);
            int now = proxy.OpenFdCount();
            same = now == count ? same + 1 : 0;
            count = now;
        }

        return Read(proxy);
    }

    /// <summary>Polls (bounded) until the proxy holds no more fds than at idle; returns the last reading.</summary>
    internal static async Task<FdSnapshot> BackToAsync(SpawnedProcess proxy, FdSnapshot idle, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (proxy.OpenFdCount() > idle.Count && Environment.TickCount64 < deadline)
        {
            await Task.Delay(50);
        }

        return Read(proxy);
    }
}
