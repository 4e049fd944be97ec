using System.Diagnostics;
using DockerProxy.Tests.Support;

namespace DockerProxy.Tests.Reliability;

/// <summary>Soak runs take the whole machine: they run alone, after the parallel tests.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SoakGroup
{
    public const string Name = "Soak";
}

/// <summary>
/// The 60-second version of the soak (build/soak.sh, docs/reliability.md): mixed TCP and UDP load
/// through a TCP and a UDP proxy of ours; it fails on any corrupted byte, any lost TCP reply, a dead
/// or stalled proxy, UDP loss above 1 %, or a rising trend of private memory or fds. The script's
/// own summary is the failure message.
/// </summary>
[Trait("Category", "Soak")]
[Collection(SoakGroup.Name)]
public sealed class SoakTests
{
    private const int Seconds = 60;

    // Load, then up to 25 s for connections in flight, settling and stopping: well within this.
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(Seconds + 180);

    [SkippableFact]
    public async Task Sixty_seconds_of_mixed_load_lose_and_corrupt_nothing_and_leave_no_growth()
    {
        string binary = Binaries.Path(Binaries.Ours);
        string script = Path.Combine(Binaries.RepositoryRoot, "build", "tools", "soak.py");

        var start = new ProcessStartInfo("python3")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Binaries.RepositoryRoot,
        };
        foreach (string arg in new[] { script, "--seconds", Seconds.ToString(System.Globalization.CultureInfo.InvariantCulture), "--binary", binary })
        {
            start.ArgumentList.Add(arg);
        }

        using var soak = System.Diagnostics.Process.Start(start)!;
        Task<string> stdout = soak.StandardOutput.ReadToEndAsync();
        Task<string> stderr = soak.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(Bound);
        try
        {
            await soak.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            soak.Kill(entireProcessTree: true); // the script and the processes it forked, by PID
            await soak.WaitForExitAsync();
        }

        string report = $"{await stdout}\n{await stderr}";
        timeout.IsCancellationRequested.Should().BeFalse($"the soak ends within {Bound}:\n{report}");
        soak.ExitCode.Should().Be(0, $"the soak passes (1: the proxy failed a check, 2: the load generator failed):\n{report}");
        report.Should().Contain("PASS:");
    }
}
