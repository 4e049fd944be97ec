namespace DockerProxy.Tests.Support;

/// <summary>Waits on a counter that a sender or receiver advances.</summary>
internal static class Progress
{
    /// <summary>Whether progress stops changing for 20 samples 50 ms apart (20 s at most).</summary>
    internal static async Task<bool> StallsAsync(Func<long> progress)
    {
        long last = -1;
        int unchanged = 0;
        for (int i = 0; i < 400 && unchanged < 20; i++)
        {
            await Task.Delay(50);
            long now = progress();
            unchanged = now == last ? unchanged + 1 : 0;
            last = now;
        }

        return unchanged >= 20;
    }
}
