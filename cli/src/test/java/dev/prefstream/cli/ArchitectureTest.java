package dev.prefstream.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static com.tngtech.archunit.library.dependencies.SlicesRuleDefinition.slices;

import ai.djl.ndarray.NDArray;
import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The module layering, enforced: schemas and embedded depend on nothing of ours; ingest and
 * publisher only on schemas; trainer on schemas and publisher; audit on those three; only the CLI
 * wires everything. Inside the trainer, the math (model, LoRA, losses, optimizer, one step) is a
 * library the streaming service, the offline commands and the recipe use, never the other way
 * round.
 */
class ArchitectureTest {
  // Plain JUnit tests calling ArchRule.check: ArchUnit's own engine (@ArchTest fields) was not
  // executed under surefire 3.5 and JUnit Platform 1.14 (0 tests reported, violations passed).
  private static final String SCHEMAS = "dev.prefstream.schemas..";
  private static final String EMBEDDED = "dev.prefstream.embedded..";
  private static final String INGEST = "dev.prefstream.ingest..";
  private static final String PUBLISHER = "dev.prefstream.publisher..";
  private static final String TRAINER = "dev.prefstream.trainer..";
  private static final String AUDIT = "dev.prefstream.audit..";
  private static final String CLI = "dev.prefstream.cli..";

  private static JavaClasses classes;

  @BeforeAll
  static void importProductionClasses() {
    classes =
        new ClassFileImporter()
            .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
            .importPackages("dev.prefstream");
  }

  @Test
  void schemasIsTheContractAndDependsOnNothingOfOurs() {
    noClasses()
        .that()
        .resideInAPackage(SCHEMAS)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(EMBEDDED, INGEST, PUBLISHER, TRAINER, AUDIT, CLI)
        .check(classes);
  }

  @Test
  void embeddedDependsOnNothingOfOurs() {
    noClasses()
        .that()
        .resideInAPackage(EMBEDDED)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(SCHEMAS, INGEST, PUBLISHER, TRAINER, AUDIT, CLI)
        .check(classes);
  }

  @Test
  void ingestDependsOnlyOnSchemas() {
    noClasses()
        .that()
        .resideInAPackage(INGEST)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(EMBEDDED, PUBLISHER, TRAINER, AUDIT, CLI)
        .check(classes);
  }

  @Test
  void publisherDependsOnlyOnSchemas() {
    noClasses()
        .that()
        .resideInAPackage(PUBLISHER)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(EMBEDDED, INGEST, TRAINER, AUDIT, CLI)
        .check(classes);
  }

  @Test
  void trainerDoesNotReachIntoIngestOrTheCli() {
    noClasses()
        .that()
        .resideInAPackage(TRAINER)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(EMBEDDED, INGEST, AUDIT, CLI)
        .check(classes);
  }

  @Test
  void auditReadsTheTopicsWithTheTrainersOwnCodeAndNothingElseOfOurs() {
    noClasses()
        .that()
        .resideInAPackage(AUDIT)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(EMBEDDED, INGEST, CLI)
        .check(classes);
  }

  /** The math: model, LoRA, losses, optimizer, tokenization and one training step. */
  private static final String[] MATH = {
    "dev.prefstream.trainer",
    "dev.prefstream.trainer.model..",
    "dev.prefstream.trainer.lora..",
    "dev.prefstream.trainer.loss..",
    "dev.prefstream.trainer.optim..",
    "dev.prefstream.trainer.tokenize.."
  };

  @Test
  void theMathKnowsNothingOfKafkaTheWireOrTheServiceAroundIt() {
    noClasses()
        .that()
        .resideInAnyPackage(MATH)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "org.apache.kafka..",
            "org.apache.avro..",
            PUBLISHER,
            "dev.prefstream.schemas.avro..",
            "dev.prefstream.schemas.serde..",
            "dev.prefstream.schemas.registry..",
            "dev.prefstream.trainer.stream..",
            "dev.prefstream.trainer.recipe..",
            "dev.prefstream.trainer.offline..",
            "dev.prefstream.trainer.bench..")
        .check(classes);
  }

  @Test
  void onlyTheStreamingServiceOfTheTrainerUsesKafkaClients() {
    // the recipe declares its keys with Kafka's config library (ConfigDef), nothing else of Kafka
    noClasses()
        .that()
        .resideInAPackage(TRAINER)
        .and()
        .resideOutsideOfPackage("dev.prefstream.trainer.stream..")
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage(
            "org.apache.kafka.clients..", "org.apache.kafka.common.serialization..", PUBLISHER)
        .check(classes);
  }

  @Test
  void trainerStateIsTheTrainersBusiness() {
    noClasses()
        .that()
        .resideInAnyPackage(PUBLISHER, INGEST, "dev.prefstream.schemas.config..")
        .should()
        .dependOnClassesThat()
        .haveSimpleNameStartingWith("TrainerState")
        .because("the trainer persists and restores its own state (trainer.stream)")
        .check(classes);
  }

  @Test
  void modulesAndTheTrainersPackagesHaveNoCycles() {
    slices().matching("dev.prefstream.(*)..").should().beFreeOfCycles().check(classes);
    slices().matching("dev.prefstream.trainer.(*)..").should().beFreeOfCycles().check(classes);
  }

  @Test
  void theEngineIsARuntimeDetail() {
    noClasses()
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("ai.djl.pytorch..")
        .because("trainer compiles against ai.djl:api; PyTorch is chosen at run time")
        .check(classes);
  }

  @Test
  void onlyTheCliParsesCommandLines() {
    noClasses()
        .that()
        .resideOutsideOfPackage(CLI)
        .should()
        .dependOnClassesThat()
        .resideInAnyPackage("picocli..")
        .check(classes);
  }

  /**
   * DJL 0.36's NDArray.add/sub/mul/div/pow(Number) hand autograd a scalar over a Java buffer that
   * is freed while backward still needs it (docs/ENGINEERING-NOTES.md): the trainer goes through
   * Ops.
   */
  @Test
  void theTrainerNeverUsesDjlScalarArithmeticThatAutogradCannotKeep() {
    for (String op : List.of("add", "sub", "mul", "div", "pow")) {
      noClasses()
          .that()
          .resideInAPackage(TRAINER)
          .and()
          .doNotHaveFullyQualifiedName("dev.prefstream.trainer.model.Ops")
          .should()
          .callMethod(NDArray.class, op, Number.class)
          .because("the scalar must live in libtorch memory: use Ops." + op)
          .check(classes);
    }
  }
}
