package dev.prefstream.cli;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;

import com.tngtech.archunit.core.importer.ImportOption;
import com.tngtech.archunit.junit.AnalyzeClasses;
import com.tngtech.archunit.junit.ArchTest;
import com.tngtech.archunit.lang.ArchRule;

/**
 * The module layering, enforced: schemas and embedded depend on nothing of ours; ingest and
 * publisher only on schemas; trainer on schemas and publisher; only the CLI wires everything.
 */
@AnalyzeClasses(packages = "dev.prefstream", importOptions = ImportOption.DoNotIncludeTests.class)
class ArchitectureTest {
  private static final String SCHEMAS = "dev.prefstream.schemas..";
  private static final String EMBEDDED = "dev.prefstream.embedded..";
  private static final String INGEST = "dev.prefstream.ingest..";
  private static final String PUBLISHER = "dev.prefstream.publisher..";
  private static final String TRAINER = "dev.prefstream.trainer..";
  private static final String CLI = "dev.prefstream.cli..";

  @ArchTest
  static final ArchRule schemasIsTheContractAndDependsOnNothingOfOurs =
      noClasses()
          .that()
          .resideInAPackage(SCHEMAS)
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage(EMBEDDED, INGEST, PUBLISHER, TRAINER, CLI);

  @ArchTest
  static final ArchRule embeddedDependsOnNothingOfOurs =
      noClasses()
          .that()
          .resideInAPackage(EMBEDDED)
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage(SCHEMAS, INGEST, PUBLISHER, TRAINER, CLI);

  @ArchTest
  static final ArchRule ingestDependsOnlyOnSchemas =
      noClasses()
          .that()
          .resideInAPackage(INGEST)
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage(EMBEDDED, PUBLISHER, TRAINER, CLI);

  @ArchTest
  static final ArchRule publisherDependsOnlyOnSchemas =
      noClasses()
          .that()
          .resideInAPackage(PUBLISHER)
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage(EMBEDDED, INGEST, TRAINER, CLI);

  @ArchTest
  static final ArchRule trainerDoesNotReachIntoIngestOrTheCli =
      noClasses()
          .that()
          .resideInAPackage(TRAINER)
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage(EMBEDDED, INGEST, CLI);

  @ArchTest
  static final ArchRule onlyTheStreamingLoopOfTheTrainerKnowsKafka =
      noClasses()
          .that()
          .resideInAPackage(TRAINER)
          .and()
          .resideOutsideOfPackage("dev.prefstream.trainer.stream..")
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage("org.apache.kafka..", PUBLISHER);

  @ArchTest
  static final ArchRule theEngineIsARuntimeDetail =
      noClasses()
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage("ai.djl.pytorch..")
          .because("trainer compiles against ai.djl:api; PyTorch is chosen at run time");

  @ArchTest
  static final ArchRule onlyTheCliParsesCommandLines =
      noClasses()
          .that()
          .resideOutsideOfPackage(CLI)
          .should()
          .dependOnClassesThat()
          .resideInAnyPackage("picocli..");
}
